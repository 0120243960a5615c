/*
 * Included before every QuickJS source file (clang -include) when the
 * engine is built for wasm32-wasi, so that the vendored sources compile
 * unchanged:
 *
 *   - malloc_usable_size is in wasi-libc (its dlmalloc) but declared only
 *     in <malloc.h> on Linux, which quickjs.c includes for __linux__ only;
 *   - WASI has one rounding mode, to nearest: quickjs.c names FE_DOWNWARD
 *     and FE_UPWARD to round a tie in toFixed and toPrecision away from
 *     zero, and fesetround with these values fails and changes nothing, so
 *     such a tie is rounded to even instead ((2.5).toFixed(0) is "2").
 */
#ifndef EVHOST_QJS_WASI_H
#define EVHOST_QJS_WASI_H

#include <stddef.h>

size_t malloc_usable_size(void *ptr);

#define FE_DOWNWARD 0x400
#define FE_UPWARD 0x800

#endif
