"""`python -m bot_fleet` runs the supervisor; `python -m bot_fleet worker --index I --count N`
runs one worker (the supervisor starts those). Workers are imported as `bot_fleet.worker`,
never run as `__main__`, so every module sees the same worker state."""

import sys

if len(sys.argv) > 1 and sys.argv[1] == "worker":
    from bot_fleet.worker import main

    del sys.argv[1]
    main()
else:
    from bot_fleet.supervisor import run

    run()
