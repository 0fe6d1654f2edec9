"""`python -m onefold.cli` runs the same command as `onefold`."""

from onefold.cli.main import main

main()
