"""What a run leaves for people and machines: report.json (document.py), report.html
(html.py, with the transcript's exchanges by exchanges.py, from templates/), junit.xml's scenario
names (junit.py) and the terminal summary (terminal.py). junit.xml and allure-results/ are
written by pytest during the run."""
