#!/bin/sh
# The layering rules of STYLE.md that can be checked mechanically, over every .c and .h of the
# tree (tests included); `make test` runs it beside format-check and fails on any finding:
#   1. no include cycle between modules: a module is a .c and its .h (worker/conn.c +
#      worker/conn.h), and its private header if it has one (worker/conn_internal.h); module A uses B when A's .c or .h includes B's .h, and no chain of uses
#      may lead from a module back to itself (conn.c including worker.h while worker.c includes
#      conn.h is such a circle);
#   2. worker/ never includes master/;
#   3. only worker/http.c includes http_parser.h (the parser is unmaintained upstream: keep it
#      swappable).
# Call cycles (a.c calling b.c's functions while b.c calls a.c's through a header they share)
# are the other half of "no two files call each other in a circle"; they need a call graph
# that no include line shows, so this script does not see them: review catches those. A header
# with no .c of its own whose functions another module defines hides such a use as well (the
# old worker/loop.h declared worker.c's ev_set, so conn.c called worker.c unseen).
# POSIX sh and awk only, so it runs on a fresh machine before any package is installed.
set -eu
cd "$(dirname "$0")/.."

files=$(find common master worker t include examples -name '*.[ch]' 2>/dev/null | sort)
status=0

# "file included" for each quoted include naming a file of the tree (from the root, as
# "worker/conn.h", or beside the includer, as "harness.h").
edges=$(for f in $files; do
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" |
        while read -r inc; do
            if [ -f "$(dirname "$f")/$inc" ]; then
                echo "$f $(dirname "$f")/$inc"
            elif [ -f "$inc" ]; then
                echo "$f $inc"
            fi
        done
done)

# 2. worker/ -> master/
bad=$(echo "$edges" | awk '$1 ~ /^worker\// && $2 ~ /^master\// { print "  " $1 " includes " $2 }')
if [ -n "$bad" ]; then
    echo "layers: worker/ includes master/:"
    echo "$bad"
    status=1
fi

# 3. http_parser.h outside worker/http.c
bad=$(grep -lE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]http_parser\.h[>"]' $files |
    grep -vx 'worker/http.c' || true)
if [ -n "$bad" ]; then
    echo "layers: http_parser.h included outside worker/http.c:" $bad
    status=1
fi

# 1. module cycles: transitive closure of "uses", then every group of modules that reach each
# other, printed once with the include lines that close it.
cycles=$(echo "$edges" | awk '
    function mod(path) { sub(/\.[ch]$/, "", path); sub(/_internal$/, "", path); return path }
    NF == 2 {
        a = mod($1); b = mod($2)
        if (a == b) next
        if (!(a in id)) { id[a] = n; name[n++] = a }
        if (!(b in id)) { id[b] = n; name[n++] = b }
        reach[id[a], id[b]] = 1
        why[id[a], id[b]] = why[id[a], id[b]] " " $1 "->" $2
    }
    END {
        for (k = 0; k < n; k++)
            for (i = 0; i < n; i++)
                if ((i, k) in reach)
                    for (j = 0; j < n; j++)
                        if ((k, j) in reach)
                            reach[i, j] = 1
        for (i = 0; i < n; i++) {
            if (i in done || !((i, i) in reach))
                continue
            group = ""; lines = ""
            for (j = 0; j < n; j++)
                if ((i, j) in reach && (j, i) in reach) {
                    done[j] = 1
                    group = group " " name[j]
                    members[j] = i
                }
            for (a = 0; a < n; a++)
                for (b = 0; b < n; b++)
                    if (members[a] == i && members[b] == i && a in members && b in members &&
                        (a, b) in why)
                        lines = lines why[a, b]
            print "  circle:" group "  (" substr(lines, 2) ")"
        }
    }')
if [ -n "$cycles" ]; then
    echo "layers: modules that include each other in a circle:"
    echo "$cycles"
    status=1
fi

[ $status -eq 0 ] && echo "layers: no include cycle; worker/ does not include master/; http_parser.h only in worker/http.c"
exit $status
