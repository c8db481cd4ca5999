"""``python -m chatmem.worker``, as the UI spawns it: at once, as the app starts, but it boots
(imports its modules, opens the store) only when the first request arrives. The UI sends that
once its first frame is on the screen: until then the two do not share the CPU."""

import select
import sys


def boot() -> None:
    select.select([sys.stdin], [], [])  # the UI's first request (or its end)
    from chatmem.worker.process import main

    main()


boot()
