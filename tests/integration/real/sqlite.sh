# sqlite3 with a database in /tmp: a transaction of 10k rows, queries, WAL journal.
set -eu
db=/tmp/test.db; rm -f $db*
{ echo "PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v REAL); BEGIN;"
  seq 1 10000 | awk '{printf "INSERT INTO t(name, v) VALUES (\"n%d\", %d.5);\n", $1 % 97, $1}'
  echo "COMMIT;"; } | sqlite3 $db
sqlite3 $db "SELECT count(*), sum(v) FROM t; SELECT name, count(*) FROM t GROUP BY name ORDER BY 2 DESC, 1 LIMIT 3;"
sqlite3 $db "CREATE INDEX i ON t(name); SELECT count(*) FROM t WHERE name='n42';"
sqlite3 $db "PRAGMA integrity_check;"
rm -f $db*
