/*
 * pthread.h for QuickJS on WASI (wasm32-wasi has no threads, and wasi-libc
 * no pthread.h). quickjs.c includes it for Atomics.wait and Atomics.notify
 * only; the engine never lets them block (JS_SetCanBlock is left false, so
 * Atomics.wait throws before it takes the mutex), and with one thread a
 * mutex and a condition variable have nothing to do.
 */
#ifndef EVHOST_QJS_PTHREAD_H
#define EVHOST_QJS_PTHREAD_H

#include <errno.h>
#include <time.h>

typedef int pthread_mutex_t;
typedef int pthread_cond_t;
typedef int pthread_condattr_t;
#define PTHREAD_MUTEX_INITIALIZER 0

static inline int pthread_mutex_lock(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_mutex_unlock(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *a) { (void)c; (void)a; return 0; }
static inline int pthread_cond_destroy(pthread_cond_t *c) { (void)c; return 0; }
static inline int pthread_cond_signal(pthread_cond_t *c) { (void)c; return 0; }
static inline int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m) { (void)c; (void)m; return 0; }
static inline int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t) {
    (void)c; (void)m; (void)t;
    return ETIMEDOUT;
}

#endif
