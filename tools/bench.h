/*
 * bench.h - what vigil-bench's scenario files share (private to the tool).
 */
#ifndef VIGIL_BENCH_H
#define VIGIL_BENCH_H

#include <stdbool.h>

#define BENCH_MAX_RUNS 99

/*
 * The decode scenario (bench-decode.c): dp_hl7_decode on a 10-OBX ORU^R01
 * and dp_vtp_decode on a 10-observation VTP frame, @p iterations times per
 * run, each against a byte-scan baseline timed in the same run.
 * @return 0, -ENOMEM, or -EPROTO when a decoder's output is not what the
 *         message holds (nothing is reported then).
 */
int bench_decode(unsigned runs, unsigned long iterations, bool json);

#endif /* VIGIL_BENCH_H */
