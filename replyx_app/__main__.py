"""`python3 -m replyx_app …` works with the bare system interpreter: see bootstrap."""

import sys

from replyx_app.bootstrap import main

main(sys.argv[1:])
