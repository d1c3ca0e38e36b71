"""`python -m idp` runs the command line."""
from idp.cli import main

main()
