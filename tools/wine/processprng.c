/* bcryptprimitives.dll for running Rust test binaries under Wine 8.
 *
 * Rust 1.78+ std takes its randomness (HashMap seeds, ...) from ProcessPrng
 * in bcryptprimitives.dll, which Wine 8 does not ship, so every Windows
 * binary std builds fails to load there. This DLL exports only ProcessPrng
 * and fills the buffer from RtlGenRandom (advapi32's SystemFunction036), which
 * Wine has. It is for `make test-windows` only; it never ships.
 *
 *   x86_64-w64-mingw32-gcc -shared -O2 -s -o bcryptprimitives.dll processprng.c -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE; /* never on Wine; Windows' own ProcessPrng cannot fail */
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
