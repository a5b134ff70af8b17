"""`python -m bot.cli`: the same command as the installed `checkin`."""

from bot.cli import main

main()
