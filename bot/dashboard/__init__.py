"""The coach's dashboard: the practice, one client and the alerts as server-rendered pages, in a browser.

Sign-in is a one-time link from the coach's DM (``bot.coaching.dashboard_link``); what a page shows is read
through the coach desk and the status functions the chat commands use, and its buttons run the desk's commands.
"""
