# The kubeline operator. Build: docker build -t kubeline:0.1.0 .
# Without Docker: `hack/image/build operator` writes the same image as an OCI archive.
FROM python:3.11.10-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# two malloc arenas, not one per thread: the operator's API calls run in worker threads, and glibc's per-thread
# arenas kept about 18 MiB more with 1,000 steps running (benchmarks/memory_bench.py)
ENV MALLOC_ARENA_MAX=2
# graphviz: dot draws the web UI's graphs (kubeline ui)
RUN apt-get update && apt-get install -y --no-install-recommends graphviz && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip install . && rm -rf /src \
 && groupadd --gid 65532 kubeline \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin kubeline

# a numeric, unprivileged user: runAsNonRoot can check it
USER 65532:65532
WORKDIR /
EXPOSE 8080
ENTRYPOINT ["kubeline"]
CMD ["operator", "--all-namespaces", "--metrics-address", "0.0.0.0:8080"]
