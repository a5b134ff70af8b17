"""The health and metrics server's error that `checkin` reports in one line, apart from the server itself.

So the command line can catch it without importing aiohttp, which a console run or an admin command never
needs (``bot.app.web_servers`` imports the server only for a config that serves HTTP).
"""


class ListenError(Exception):
    """The server could not bind its address; the message says which and why, for the operator."""
