/* argon2's allocation callbacks (argon2_context.allocate_cbk and free_cbk) for idp/security/argon2_area.py:
   the work area is an anonymous mapping of its own, on transparent huge pages where the kernel offers them,
   unmapped when argon2 frees it. In C, so that no Python code runs while argon2 holds no GIL, and no
   writable-and-executable memory is needed (cffi and ctypes callbacks written in Python need both). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <sys/mman.h>

#define ARGON2_MEMORY_ALLOCATION_ERROR (-22)

static int allocate_area(uint8_t **memory, size_t size)
{
    void *area = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) {
        *memory = NULL;
        return ARGON2_MEMORY_ALLOCATION_ERROR;
    }
#ifdef MADV_HUGEPAGE
    (void)madvise(area, size, MADV_HUGEPAGE);   /* refused or no huge pages: 4 KiB pages, same result */
#endif
    *memory = area;
    return 0;
}

static void free_area(uint8_t *memory, size_t size)
{
    if (memory != NULL) {
        (void)munmap(memory, size);             /* argon2 wiped the area before handing it back */
    }
}

static int add_address(PyObject *module, const char *name, void *address)
{
    PyObject *value = PyLong_FromVoidPtr(address);
    if (value == NULL) {
        return -1;
    }
    int result = PyModule_AddObjectRef(module, name, value);
    Py_DECREF(value);
    return result;
}

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_argon2_area",
    "Addresses of argon2's allocation callbacks: ALLOCATE (allocate_fptr) and FREE (deallocate_fptr).", -1, NULL,
};

PyMODINIT_FUNC PyInit__argon2_area(void)
{
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    if (add_address(module, "ALLOCATE", (void *)allocate_area) < 0 || add_address(module, "FREE", (void *)free_area) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
