/* Preloaded into a local tritonserver (LD_PRELOAD) so that every listening socket it and its Python
 * backend stubs open is bound to the loopback interface. Triton 24.04's SageMaker front end has no
 * address option (it binds 0.0.0.0; --http-address covers only the KServe HTTP front end), so on a
 * developer machine it would serve any model directory to the whole network. Not used in the image:
 * SageMaker needs the front end on 0.0.0.0:8080. Built by hosting_server/loopback.py. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    static bind_fn real_bind;
    if (real_bind == NULL) real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
    if (addr != NULL && addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        struct sockaddr_in in4;
        memcpy(&in4, addr, sizeof in4);
        if ((ntohl(in4.sin_addr.s_addr) >> 24) != 127) in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return real_bind(fd, (const struct sockaddr *)&in4, sizeof in4);
    }
    if (addr != NULL && addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 in6;
        memcpy(&in6, addr, sizeof in6);
        if (!IN6_IS_ADDR_LOOPBACK(&in6.sin6_addr)) in6.sin6_addr = in6addr_loopback;
        return real_bind(fd, (const struct sockaddr *)&in6, sizeof in6);
    }
    return real_bind(fd, addr, len);
}
