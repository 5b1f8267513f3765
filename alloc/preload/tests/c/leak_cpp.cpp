// A C++ service with one leak in a member function (`service::Cache::insert`), built
// -O2: requests churn std::string and std::vector storage; every 16th keeps a node.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace service {

struct Node {
    Node *next;
    char payload[1024];
};

class Cache {
  public:
    __attribute__((noinline)) void insert(unsigned long key) {
        Node *n = new Node; // the leak: never deleted
        n->payload[0] = static_cast<char>(key);
        n->next = head_;
        head_ = n;
    }

  private:
    Node *head_ = nullptr;
};

__attribute__((noinline)) unsigned long handle(Cache &cache, unsigned long n) {
    std::vector<std::string> parts;
    for (int i = 0; i < 8; i++)
        parts.emplace_back(32 + (n * 7 + i * 13) % 1500, static_cast<char>('a' + i));
    unsigned long sum = 0;
    for (auto &p : parts)
        sum += static_cast<unsigned char>(p[p.size() / 2]);
    if (n % 16 == 0)
        cache.insert(n);
    return sum;
}

} // namespace service

int main(int argc, char **argv) {
    double seconds = argc > 1 ? std::atof(argv[1]) : 1e9;
    auto start = std::chrono::steady_clock::now();
    service::Cache cache;
    unsigned long sum = 0;
    for (unsigned long n = 1;; n++) {
        sum += service::handle(cache, n);
        if (n % 64 == 0) {
            std::chrono::duration<double> t = std::chrono::steady_clock::now() - start;
            if (t.count() >= seconds)
                break;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    std::printf("%lu\n", sum);
    return 0;
}
