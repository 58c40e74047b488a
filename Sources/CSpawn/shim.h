#ifndef RESOLVERD_CSPAWN_SHIM_H
#define RESOLVERD_CSPAWN_SHIM_H
#include <spawn.h>

/// glibc 2.34 and later: a spawn file action closing every descriptor from `from` up. spawn.h declares it only
/// under _GNU_SOURCE, which Swift's view of glibc does not define; the declaration is repeated here.
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);

#endif
