"""`python -m cds.impact ...`: the impact command on its own (until it is mounted as `cds rules impact`)."""

import typer

from cds.impact.cli import impact_command

if __name__ == "__main__":
    typer.run(impact_command)
