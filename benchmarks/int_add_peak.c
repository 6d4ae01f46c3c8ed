/* Peak 32-bit integer add throughput of this CPU, for the GSOP/s comparison in bench_eval.py.
 *
 * clock : a chain of dependent scalar adds runs at one add per cycle, so cycles = adds and
 *         GHz = adds / seconds (the core's real clock under load, turbo included).
 * peak  : 12 independent accumulators of 8 x int32 (one AVX2 vpaddd ymm each) per loop
 *         iteration (13 of the 16 ymm registers: no spills), kept in registers by an empty asm
 *         barrier so nothing is folded away;
 *         run on 1 thread and on every OpenMP thread.
 * Each figure is the best of REPEATS short runs, so that time slices lost to other processes
 * on a shared machine do not count. Prints one JSON object. Build: cc -O2 -mavx2 -fopenmp int_add_peak.c -o int_add_peak
 */
#include <omp.h>
#include <stdio.h>
#include <time.h>

typedef int v8si __attribute__((vector_size(32)));

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* 64 dependent scalar adds per iteration: one per cycle. */
static double clock_ghz(long iterations) {
    long x = 0;
    double t0 = now();
    for (long i = 0; i < iterations; i++) {
        __asm__ volatile(
            ".rept 64\n\t"
            "addq $1, %0\n\t"
            ".endr"
            : "+r"(x));
    }
    double seconds = now() - t0;
    return 64.0 * (double)iterations / seconds / 1e9;
}

#define REPEATS 15

#define BARRIER(a, b, c, d) __asm__ volatile("" : "+x"(a), "+x"(b), "+x"(c), "+x"(d))

/* 12 independent vpaddd ymm per iteration; returns the int32 adds performed. */
static double vector_adds(long iterations) {
    v8si one = {1, 1, 1, 1, 1, 1, 1, 1};
    v8si a0 = one, a1 = one, a2 = one, a3 = one, a4 = one, a5 = one;
    v8si a6 = one, a7 = one, a8 = one, a9 = one, a10 = one, a11 = one;
    for (long i = 0; i < iterations; i++) {
        a0 += one; a1 += one; a2 += one; a3 += one; a4 += one; a5 += one;
        a6 += one; a7 += one; a8 += one; a9 += one; a10 += one; a11 += one;
        BARRIER(a0, a1, a2, a3);
        BARRIER(a4, a5, a6, a7);
        BARRIER(a8, a9, a10, a11);
    }
    v8si sum = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
    volatile int sink = sum[0];
    (void)sink;
    return 12.0 * 8.0 * (double)iterations;
}

static double adds_per_second(int threads, long iterations) {
    double total = 0.0;
    double t0 = now();
#pragma omp parallel num_threads(threads) reduction(+ : total)
    total += vector_adds(iterations);
    return total / (now() - t0);
}

static double max2(double a, double b) { return a > b ? a : b; }

int main(void) {
    const long clock_iterations = 2000000L, add_iterations = 10000000L;
    int threads = omp_get_max_threads();
    double ghz = 0.0, one = 0.0, all = 0.0;
    clock_ghz(clock_iterations);                          /* warm up to the sustained clock */
    for (int r = 0; r < REPEATS; r++) {
        ghz = max2(ghz, clock_ghz(clock_iterations));
        one = max2(one, adds_per_second(1, add_iterations));
        all = max2(all, adds_per_second(threads, add_iterations));
    }
    printf("{\"clock_ghz\": %.3f, \"threads\": %d, \"adds_per_s_1\": %.4e, "
           "\"adds_per_s_all\": %.4e, \"adds_per_cycle_1\": %.2f}\n",
           ghz, threads, one, all, one / (ghz * 1e9));
    return 0;
}
