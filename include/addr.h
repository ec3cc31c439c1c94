/*
 * addr: facts about socket addresses shared by the server and the load
 * generator's limit server.
 */
#ifndef LINESVR_ADDR_H
#define LINESVR_ADDR_H

#include <sys/socket.h>

/* 127.0.0.0/8, ::1, or an IPv4-mapped 127.x address: 1, else 0. */
int addr_is_loopback(const struct sockaddr_storage *ss);

#endif
