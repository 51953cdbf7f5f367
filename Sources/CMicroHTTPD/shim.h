#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <microhttpd.h>

/* MHD_start_daemon is variadic, which Swift cannot call: this fixed form
   binds `address` and serves connections on a small pool of threads;
   `completed` is told when each request ends (to free its state). */
static inline struct MHD_Daemon *bc_mhd_start(const struct sockaddr_in *address,
                                              MHD_AccessHandlerCallback handler, void *context,
                                              MHD_RequestCompletedCallback completed) {
    return MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG,
                            ntohs(address->sin_port), NULL, NULL, handler, context,
                            MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)address,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)4,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                            MHD_OPTION_END);
}

/* The socket the daemon listens on (to learn the port it chose for port 0). */
static inline int bc_mhd_listen_fd(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_LISTEN_FD);
    return info ? info->listen_fd : -1;
}
