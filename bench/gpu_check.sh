#!/bin/bash
# The GPU checks, on a machine with an NVIDIA GPU: what JAX sees, one GPU job through a local Ray
# head (submitted with --gpu, so it asks Ray for a GPU), and the GPU bench. Run from the repository root.
# Env: PY (a python with the requirements and JAX for CUDA; default python3), OUT (results, /tmp/out),
# STAGES (probe,ray,bench; train adds a synchronous GPU training), SITE_TAR (tar files of packages to
# put on PYTHONPATH first, for a machine where nothing can be installed), RAY_GPUS/RAY_DEVICE,
# BENCH_MODE (--quick), BENCH_TIMEOUT (s per bench path), BENCH_GPU_PATHS and BENCH_GPU_SETTINGS
# (e.g. draws=300,tune=300 where the lease is short; see bench/bench_gpu.py).
# Record of its run on 2026-12-04: bench/results/gpu_machine_2026-12-04.md.
set -u
PY=${PY:-python3}; OUT=${OUT:-/tmp/out}; STAGES=${STAGES:-probe,ray,bench}
mkdir -p $OUT; export PYTHONUNBUFFERED=1
log() { echo "[$(date +%T)] $*"; }
if [ -n "${SITE_TAR:-}" ]; then
  log "unpacking $SITE_TAR"; mkdir -p /tmp/site
  for t in $SITE_TAR; do
    $PY -c "import tarfile,sys; tarfile.open(sys.argv[1]).extractall('/tmp/site', filter='fully_trusted')" "$t" || exit 3
  done
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if ! command -v ray >/dev/null; then  # packages carried without their scripts: a `ray` for ray_local to run
  mkdir -p /tmp/bin; printf '#!/bin/sh\nexec %s -c "import sys; from ray.scripts.scripts import main; sys.argv[0]=\\"ray\\"; sys.exit(main())" "$@"\n' "$(command -v $PY)" > /tmp/bin/ray
  chmod +x /tmp/bin/ray; export PATH=/tmp/bin:$PATH
fi
export BAYES_ARTIFACTS_DIR=/tmp/art BAYES_RAY_PYTHON=$(command -v $PY) RAY_USAGE_STATS_ENABLED=0
case ,$STAGES, in *,probe,*)
  log probe; nvidia-smi -L 2>&1 | head -2
  $PY - <<'PYEOF' 2>&1 | tee $OUT/probe.txt
import importlib.metadata as md, importlib
for n in "numpy scipy pandas numba llvmlite jax jaxlib numpyro pymc pytensor arviz-stats xarray ray grpcio protobuf aiohttp pydantic nutpie".split():
    try: print(n, md.version(n))
    except Exception as e: print(n, "MISSING", e)
for m in ["pymc", "numpyro", "ray", "ray.dashboard", "ray.job_submission", "bayes_core.jobs.ray", "nutpie"]:
    try: importlib.import_module(m); print("import ok", m)
    except Exception as e: print("IMPORT FAIL", m, type(e).__name__, e)
import jax; print("jax devices", jax.devices())
from bayes_core import samplers; print("gpu_available", samplers.gpu_available())
PYEOF
;; esac
case ,$STAGES, in *,train,*)
  log "train NB on gpu (CLI, synchronous)"
  /usr/bin/time -f "wall %e s" $PY -m bayes_core train hierarchical_negbinom --gpu 2>&1 | tail -6 | tee $OUT/train_gpu.txt
;; esac
case ,$STAGES, in *,ray,*)
  log "ray head with 1 GPU"
  $PY -m bayes_core.jobs.ray_local up --cpus 4 --gpus ${RAY_GPUS:-1} --hours 1 --state-dir /tmp/raystate 2>&1 | tee $OUT/ray.txt
  ADDR=$($PY -c "import json;print(json.load(open('/tmp/raystate/head.json'))['address'])")
  export BAYES_JOB_RUNNER=ray RAY_ADDRESS=$ADDR
  log "submit GPU job to $ADDR"
  $PY -m bayes_core jobs submit hierarchical_negbinom ${RAY_DEVICE:---gpu} --json > $OUT/submit.json 2>&1
  cat $OUT/submit.json | tee -a $OUT/ray.txt
  JOB=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['job_id'])" $OUT/submit.json) || { log "no job id"; JOB=none; }
  for i in $(seq 1 45); do
    ST=$($PY -m bayes_core jobs status $JOB --json 2>/dev/null | $PY -c "import json,sys; print(json.load(sys.stdin).get('state'))")
    [ "$JOB" = none ] && break
    [ "$ST" = succeeded ] || [ "$ST" = failed ] || [ "$ST" = cancelled ] && break; sleep 2
  done
  log "job $JOB: $ST"
  { $PY -m bayes_core jobs status $JOB --json; $PY -m bayes_core jobs list; $PY -m bayes_core jobs logs $JOB | tail -25;
    $PY -c "
import json, sys
from bayes_core.jobs.ray import RayJobRunner
runner = RayJobRunner()
print('cluster:', runner.resources().describe())
info = runner.cluster().client.get_job_info(sys.argv[1])
print('Ray job info:', json.dumps({k: getattr(info, k, None) for k in ('submission_id', 'status', 'message', 'entrypoint',
      'entrypoint_num_cpus', 'entrypoint_num_gpus', 'driver_node_id', 'start_time', 'end_time')}, default=str, indent=1))
" $JOB
    ls /tmp/art/hierarchical_negbinom/runs/ 2>&1;
    cat /tmp/art/hierarchical_negbinom/runs/*/metadata.json 2>/dev/null | head -60; } 2>&1 | tee -a $OUT/ray.txt
  $PY -m bayes_core.jobs.ray_local down --state-dir /tmp/raystate 2>&1 | tee -a $OUT/ray.txt
;; esac
case ,$STAGES, in *,bench,*)
  log "bench gpu"
  BENCH_GPU_PATH_TIMEOUT_S=${BENCH_TIMEOUT:-240} $PY -m bench ${BENCH_MODE:-} --only gpu --out $OUT/bench 2>&1 | tail -5
  cat $OUT/bench/latest.md | tail -25
;; esac
log done
