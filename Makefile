# The two commands of the README. Both install what is missing first and say what they do.
.PHONY: demo test

demo:  ## a demo campus: private broker, coordinator on SQLite, simulated devices
	@scripts/setup.sh run
	@.venv/bin/python scripts/demo.py

test:  ## ruff, mypy and every test against real Mosquitto and PostgreSQL
	@scripts/setup.sh test
	@scripts/test.sh
