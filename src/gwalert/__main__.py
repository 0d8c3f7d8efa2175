from gwalert.cli import entry

entry()
