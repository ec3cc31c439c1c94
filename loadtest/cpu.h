/*
 * cpu: processor time used, by this process (getrusage) or by another one
 * (/proc/PID/stat), so a report can show whether the client or the server
 * was the busy one.
 */
#ifndef BENCH_CPU_H
#define BENCH_CPU_H

#include <sys/types.h>

/* Seconds of user and system time of this process so far. */
void cpu_self(double *user, double *sys);

/* Seconds of user + system time of pid so far, or -1 if unknown. */
double cpu_pid(pid_t pid);

#endif
