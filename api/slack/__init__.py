"""The Slack door: Bolt listeners over the Bot (events.py), Block Kit rendering (blocks.py), Socket
Mode (socket.py) and its settings (settings.py). Importing this package imports nothing of Bolt."""
