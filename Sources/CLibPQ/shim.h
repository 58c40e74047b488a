#ifndef RESOLVERD_CLIBPQ_SHIM_H
#define RESOLVERD_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
