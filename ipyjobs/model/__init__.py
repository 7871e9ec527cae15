"""The model: a job, its state, its records and the repository of jobs (DESIGN §1, §2).
Pure Python: imports nothing else of ipyjobs, and no IPython, traitlets or widgets."""
