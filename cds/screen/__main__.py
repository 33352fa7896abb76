"""`python -m cds.screen ...`: the screen command on its own (until it is mounted on `cds`)."""

import typer

from cds.screen.cli import screen_command

if __name__ == "__main__":
    typer.run(screen_command)
