"""The built web app (``web/`` compiled by ``make web`` into ``dist/``), served by the API process."""
