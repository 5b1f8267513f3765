// C++'s operator new and delete under the preload (tests/cxx.rs): the library's own
// definitions are the ones called, every form allocates and frees, and a request no
// memory can serve still ends as the C++ standard says: the new-handler is called,
// std::bad_alloc is thrown through the library, the nothrow forms return null.
#include <dlfcn.h>
#include <malloc.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

static int failures;
#define CHECK(name, cond, ...)                                                            \
    do {                                                                                  \
        if (cond) {                                                                       \
            std::printf("ok %s\n", name);                                                 \
        } else {                                                                          \
            failures++;                                                                   \
            std::printf("FAIL %s: ", name);                                               \
            std::printf(__VA_ARGS__);                                                     \
            std::printf("\n");                                                            \
        }                                                                                 \
        std::fflush(stdout);                                                              \
    } while (0)

// Which object defines the function at `f`.
static const char *defined_in(void *f) {
    Dl_info info;
    if (dladdr(f, &info) == 0 || info.dli_fname == nullptr)
        return "(unknown)";
    return info.dli_fname;
}

// A size no allocator can serve, out of the compiler's sight.
static std::size_t impossible() {
    volatile std::size_t n = std::size_t(1) << 62;
    return n;
}

struct Node {
    std::uint64_t key;
    char payload[40];
};

static int handler_calls;
static void handler() {
    // The second call gives up: the next failure throws.
    if (++handler_calls == 2)
        std::set_new_handler(nullptr);
}

int main() {
    // What the program's calls bind to: the first definition in the global scope.
    const char *forms[] = {"_Znwm",  "_Znam",  "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t",
                           "_ZdlPv", "_ZdaPv", "_ZdlPvm",             "_ZdaPvm",
                           "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t"};
    const char *elsewhere = nullptr;
    for (const char *f : forms) {
        void *at = dlsym(RTLD_DEFAULT, f);
        if (at == nullptr || std::strstr(defined_in(at), "slabscope") == nullptr) {
            elsewhere = f;
            break;
        }
    }
    CHECK("operators_are_preloaded", elsewhere == nullptr, "%s is defined in %s", elsewhere,
          elsewhere ? defined_in(dlsym(RTLD_DEFAULT, elsewhere)) : "");

    // Every form, with contents that must survive other allocations.
    unsigned bad = 0;
    std::vector<std::unique_ptr<Node>> nodes;
    std::map<std::uint64_t, std::string> names;
    for (std::uint64_t i = 0; i < 200000; i++) {
        auto n = std::make_unique<Node>();
        n->key = i;
        std::memset(n->payload, int(i & 0x7f), sizeof n->payload);
        nodes.push_back(std::move(n));
        names[i % 5000] = std::string(16 + i % 300, char('a' + i % 26));
        char *a = new char[1 + i % 2000];
        a[i % 2000] = 1;
        delete[] a;
        if (i % 3 == 0)
            nodes[i / 2].reset();
    }
    for (auto &n : nodes)
        if (n && n->payload[39] != char(n->key & 0x7f))
            bad++;
    for (auto &[k, v] : names)
        if (v.empty() || v[0] < 'a' || v[0] > 'z')
            bad++;
    void *p = ::operator new(24, std::nothrow);
    void *q = ::operator new[](4000, std::nothrow);
    bad += p == nullptr || q == nullptr || malloc_usable_size(p) < 24 ||
           malloc_usable_size(q) < 4000;
    ::operator delete(p, std::nothrow);
    ::operator delete[](q, std::nothrow);
    CHECK("every_form_allocates_and_frees", bad == 0, "%u bad", bad);

    bool threw = false;
    try {
        char *big = new char[impossible()];
        big[0] = 1;
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK("impossible_new_throws_bad_alloc", threw, "no exception");

    threw = false;
    try {
        void *big = ::operator new(impossible());
        ::operator delete(big);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK("impossible_scalar_new_throws_bad_alloc", threw, "no exception");

    char *none = new (std::nothrow) char[impossible()];
    void *none2 = ::operator new(impossible(), std::nothrow);
    CHECK("impossible_nothrow_new_is_null", none == nullptr && none2 == nullptr, "%p %p",
          (void *)none, none2);

    std::set_new_handler(handler);
    threw = false;
    try {
        char *big = new char[impossible()];
        big[0] = 1;
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK("new_handler_called_until_it_gives_up", threw && handler_calls == 2,
          "threw %d, handler called %d times", threw, handler_calls);

    // The process goes on allocating after all that.
    std::vector<std::string> after;
    for (int i = 0; i < 10000; i++)
        after.emplace_back(100 + i % 1000, 'z');
    CHECK("allocates_after_failures", after.back().size() == 100 + 9999 % 1000, "size %zu",
          after.back().size());

    std::printf("failures %d\n", failures);
    return failures != 0;
}
