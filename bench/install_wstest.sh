#!/bin/bash
# (Copied from the team's shared tools; used by bench/autobahn.py, which installs into ~/.cache.)
# Install Autobahn|Testsuite 'wstest' (Python 2.7 only) on Debian 12 without touching the system Python:
# CPython 2.7.18 debs from Debian 11 (bullseye) unpacked into a private root, pip 20.3.4 bootstrapped from its wheel.
set -euo pipefail
ROOT=${1:-$PWD/wstest-env}
mkdir -p "$ROOT"/apt/{lists/partial,cache/archives/partial} "$ROOT"/debs "$ROOT"/py27root "$ROOT"/wh
URI=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)   # the mirror apt already uses
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $URI bullseye main" > "$ROOT"/apt/sources.list
O="-o Dir::Etc::SourceList=$ROOT/apt/sources.list -o Dir::Etc::SourceParts=/nonexistent -o Dir::State::Lists=$ROOT/apt/lists -o Dir::Cache=$ROOT/apt/cache -o Dir::State::status=/var/lib/dpkg/status"
apt-get $O update -qq
(cd "$ROOT"/debs && apt-get $O download -qq python2.7 python2.7-minimal libpython2.7-minimal libpython2.7-stdlib libpython2.7 libpython2.7-dev python2.7-dev libssl1.1 libffi7)
for f in "$ROOT"/debs/*.deb; do dpkg -x "$f" "$ROOT"/py27root; done
cat > "$ROOT"/py27 <<EOS
#!/bin/sh
export LD_LIBRARY_PATH=$ROOT/py27root/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
export PYTHONHOME=$ROOT/py27root/usr
exec $ROOT/py27root/usr/bin/python2.7 "\$@"
EOS
chmod +x "$ROOT"/py27
pip download -q -d "$ROOT"/wh --no-deps --only-binary=:all: --python-version 2.7 --implementation cp --abi cp27mu --platform manylinux1_x86_64 pip==20.3.4 setuptools==44.1.1 wheel==0.37.1
"$ROOT"/py27 "$ROOT"/wh/pip-20.3.4-py2.py3-none-any.whl/pip install -q --no-index --find-links "$ROOT"/wh pip setuptools wheel
CFLAGS="-I$ROOT/py27root/usr/include/python2.7 -I$ROOT/py27root/usr/include" LDFLAGS="-L$ROOT/py27root/usr/lib/x86_64-linux-gnu" \
  "$ROOT"/py27 -m pip install -q autobahntestsuite==25.10.1
printf '#!/bin/sh\nexec %s %s "$@"\n' "$ROOT/py27" "$ROOT/py27root/usr/local/bin/wstest" > "$ROOT"/wstest
chmod +x "$ROOT"/wstest
"$ROOT"/wstest -a
