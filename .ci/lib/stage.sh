# Sourced (not a stage: .ci/run runs only .ci/stages/*.sh) by the stages
# that take a mode and work from the repository root: sets MODE from the
# stage's first argument, else $TWINKV_CI_MODE, else quick (exits 2 on any
# other value), and ROOT to the repository root.
#
# Usage, at the top of a stage:  source "$(dirname "${BASH_SOURCE[0]}")/../lib/stage.sh"
MODE=${1:-${TWINKV_CI_MODE:-quick}}
case "$MODE" in
quick | long) ;;
*)
    echo "unknown mode '$MODE' (quick or long)" >&2
    exit 2
    ;;
esac
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
