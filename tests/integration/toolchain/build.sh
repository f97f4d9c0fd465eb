# make -j2 of a small threaded C program with gcc inside the container, a no-op rebuild, a
# rebuild after touching a header, then the program itself.
set -e
rm -rf /tmp/tc && cp -r /toolchain /tmp/tc && cd /tmp/tc
make -s -j2 CC=gcc
echo "built: $(ls app main.o work.o | tr '\n' ' ')"
make -q CC=gcc && echo "up to date"
touch work.h
make -q CC=gcc || echo "stale after touching work.h"
make -s -j2 CC=gcc
./app
echo | gcc -E -dM - | grep -c "define __x86_64__ 1"
