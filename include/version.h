/* version: the release of linesvr, printed by --version of every program. */
#ifndef LINESVR_VERSION_H
#define LINESVR_VERSION_H

#define LINESVR_VERSION "0.1.0"

#endif
