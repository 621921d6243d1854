"""What a run leaves for people and machines: report.json (document.py) and the terminal
summary (terminal.py). junit.xml and allure-results/ are written by pytest during the run."""
