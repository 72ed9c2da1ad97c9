#!/usr/bin/env bash
# The C compiler of fuzz builds: clang, adding libFuzzer's coverage instrumentation
# (-fsanitize=fuzzer-no-link) to compilations (-c) only. Configure scripts (LAME's, built for
# the server's MP3 egress) link small test programs, which would miss libFuzzer's coverage
# symbols if they were instrumented; the objects that end up in the fuzz targets are, and
# libFuzzer (linked by cargo fuzz) provides those symbols there.
for arg in "$@"; do
    if [[ $arg == -c ]]; then
        exec clang -fsanitize=fuzzer-no-link "$@"
    fi
done
exec clang "$@"
