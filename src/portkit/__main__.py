from portkit.cli import main

main()
