# cli_lib.sh - what the command-line tests share (sourced, not run).
#
# The caller sets TOOL (the binary under test), TOOL_TIMEOUT (seconds) and
# tmp (a scratch directory it removes) before using these, and ends with
# `cli_summary NAME`.
passed=0
failed=0

ok() {
	passed=$((passed + 1))
	echo "ok: $*"
}

fail() {
	failed=$((failed + 1))
	echo "FAIL: $*"
}

# run NAME ARGS...: TOOL with a timeout; status in $rc, output in
# $tmp/NAME.out and $tmp/NAME.err.
run() {
	local name=$1
	shift
	rc=0
	timeout "$TOOL_TIMEOUT" "$TOOL" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?
}

# expect_rc NAME RC WHAT: the last run exited RC.
expect_rc() {
	if [ "$rc" -eq "$2" ]; then
		ok "$3: exit $2"
	else
		fail "$3: exit $rc, expected $2"
		show "$1"
	fi
}

# has NAME STREAM REGEX WHAT: a line of NAME's STREAM (out or err) matches.
has() {
	if grep -Eq -- "$3" "$tmp/$1.$2"; then
		ok "$4"
	else
		fail "$4: no line matching /$3/ in std$2"
		show "$1"
	fi
}

# show NAME: the exit status and (the start of) both outputs of run NAME.
show() {
	echo "  exit $rc; stdout:"
	head -n 40 "$tmp/$1.out" | sed 's/^/    /'
	echo "  stderr:"
	head -n 40 "$tmp/$1.err" | sed 's/^/    /'
}

# cli_summary NAME: the closing line; fails the test if anything failed.
cli_summary() {
	echo "$1: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}
