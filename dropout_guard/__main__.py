"""``python -m dropout_guard`` runs the command line."""
from dropout_guard.cli import main

if __name__ == "__main__":  # pragma: no branch
    main(prog_name="dropout-guard")
