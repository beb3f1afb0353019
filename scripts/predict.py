#!/usr/bin/env python3
"""What-if for one replica: ``python scripts/predict.py --model Llama-3.1-70B --gpu H100 --tp 4``.

Prints predicted memory use, KV capacity, TTFT, TPOT and throughput (``--json`` for
machine-readable output); a config that does not fit says why.
"""

import sys

from boute.engine import main

if __name__ == "__main__":
    sys.exit(main(["predict", *sys.argv[1:]]))
