#!/bin/bash
# The one-node cluster of the live tests, for use by hand: the project's cluster harness
# (lab/pcmk-cluster.sh, shared with the two-controller lab) with NODES=1, netns prefix
# raotest- and the subnet 10.231.0.0/24. pcmk_live.py drives the same harness from pytest.
#   pcmk-harness.sh up | exec CMD.. | client CMD.. | stop | teardown [--hard] | session | info
set -u
LAB=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../lab" && pwd)
export PFX=${PFX:-raotest} NET=${NET:-10.231.0} NODES=1
export BASE=${BASE:-/tmp/raotest-cluster.$PFX}
case "${1:-}" in
    exec) shift; exec /bin/bash "$LAB/pcmk-cluster.sh" exec 1 "$@" ;;
    stop) exec /bin/bash "$LAB/pcmk-cluster.sh" stop 1 "${2:-120}" ;;
    *) exec /bin/bash "$LAB/pcmk-cluster.sh" "$@" ;;
esac
