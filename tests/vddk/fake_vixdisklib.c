/* The test bed's VixDiskLib: nbdkit's own fake (tests/dummy-vddk.c of the nbdkit source package,
 * compiled in beside this file with the functions defined here renamed dummy_*) and what that
 * fake cannot do for a migration test:
 *
 * - it serves one 512 KiB buffer of zeroes; this serves the disk the plugin opens, read from the
 *   datastore directory of the vSphere simulator (`[ds] dir/x.vmdk` → `<datastores>/ds/dir/x-flat.vmdk`),
 *   and answers VixDiskLib_QueryAllocatedBlocks from that file's holes, so the plugin serves
 *   extents as it does with VDDK ≥ 6.7;
 * - it records nothing; this appends to a record file what the library was given: its directory,
 *   its configuration file's lines, the connection parameters, the snapshot, the transport modes,
 *   the disk opened and each extents query (`extents=START+SECTORS`), so a test compares them
 *   with what passed vSphere's own checks.
 *
 * Its settings are in `<libdir>/fake-vddk.conf` (`datastores=DIR`, `record=FILE`), beside the
 * lib64/ directory the plugin loads it from: the plugin's environment is not ours to set.
 * Every call still goes through nbdkit's fake first, so its checks (the background thread that
 * must survive nbdkit's fork) still hold.
 */

#define _GNU_SOURCE 1

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nbdkit-plugin.h" /* only for NBDKIT_DLL_PUBLIC */

#include "vddk-structs.h"

#define STUB(fn, ret, args) extern ret fn args; extern ret dummy_##fn args;
#define OPTIONAL_STUB(fn, ret, args) extern ret fn args;
#include "vddk-stubs.h"
#undef STUB
#undef OPTIONAL_STUB

static char datastores[4096];
static char record_path[4096];

struct disk {
  int fd;
  uint64_t sectors;
};

static void
record (const char *fmt, ...)
{
  FILE *fp;
  va_list args;

  if (record_path[0] == '\0')
    return;
  fp = fopen (record_path, "a");
  if (fp == NULL) {
    fprintf (stderr, "fake-vddk: %s: %m\n", record_path);
    return;
  }
  va_start (args, fmt);
  vfprintf (fp, fmt, args);
  va_end (args);
  fputc ('\n', fp);
  fclose (fp);
}

static void
read_settings (const char *lib_dir)
{
  char path[4096], line[4096];
  FILE *fp;

  snprintf (path, sizeof path, "%s/fake-vddk.conf", lib_dir ? lib_dir : ".");
  fp = fopen (path, "r");
  if (fp == NULL)
    return;
  while (fgets (line, sizeof line, fp) != NULL) {
    line[strcspn (line, "\n")] = '\0';
    if (strncmp (line, "datastores=", 11) == 0)
      snprintf (datastores, sizeof datastores, "%s", line + 11);
    else if (strncmp (line, "record=", 7) == 0)
      snprintf (record_path, sizeof record_path, "%s", line + 7);
  }
  fclose (fp);
}

NBDKIT_DLL_PUBLIC VixError
VixDiskLib_InitEx (uint32_t major, uint32_t minor,
                   VixDiskLibGenericLogFunc *log_function,
                   VixDiskLibGenericLogFunc *warn_function,
                   VixDiskLibGenericLogFunc *panic_function,
                   const char *lib_dir, const char *config_file)
{
  char line[4096];
  FILE *fp;

  read_settings (lib_dir);
  record ("lib_dir=%s", lib_dir ? lib_dir : "");
  record ("config_file=%s", config_file ? config_file : "");
  /* VDDK reads its configuration file here, once. */
  if (config_file != NULL) {
    fp = fopen (config_file, "r");
    if (fp == NULL) {
      fprintf (stderr, "fake-vddk: cannot read the configuration file %s: %m\n",
               config_file);
      return VIX_E_FAIL;
    }
    while (fgets (line, sizeof line, fp) != NULL) {
      line[strcspn (line, "\n")] = '\0';
      record ("config=%s", line);
    }
    fclose (fp);
  }
  return dummy_VixDiskLib_InitEx (major, minor, log_function, warn_function,
                                  panic_function, lib_dir, config_file);
}

NBDKIT_DLL_PUBLIC VixError
VixDiskLib_ConnectEx (const VixDiskLibConnectParams *params,
                      char read_only,
                      const char *snapshot_ref,
                      const char *transport_modes,
                      VixDiskLibConnection *connection)
{
  record ("vmx_spec=%s", params->vmxSpec ? params->vmxSpec : "");
  record ("server=%s", params->serverName ? params->serverName : "");
  record ("port=%u", params->port);
  record ("thumbprint=%s", params->thumbPrint ? params->thumbPrint : "");
  if (params->credType == VIXDISKLIB_CRED_UID) {
    record ("user=%s", params->creds.uid.userName ? params->creds.uid.userName : "");
    record ("password=%s", params->creds.uid.password ? params->creds.uid.password : "");
  }
  record ("read_only=%d", read_only);
  record ("snapshot=%s", snapshot_ref ? snapshot_ref : "");
  record ("transport_modes=%s", transport_modes ? transport_modes : "");
  return dummy_VixDiskLib_ConnectEx (params, read_only, snapshot_ref,
                                     transport_modes, connection);
}

/* `[ds] dir/x.vmdk` → `<datastores>/ds/dir/x-flat.vmdk`, as a flat VMDK's data file is named. */
static int
flat_file (const char *path, char *out, size_t len)
{
  const char *close_bracket;
  size_t name_len;

  if (path[0] != '[' || (close_bracket = strchr (path, ']')) == NULL ||
      close_bracket[1] != ' ')
    return -1;
  name_len = strlen (close_bracket + 2);
  if (name_len < 5 || strcmp (close_bracket + 2 + name_len - 5, ".vmdk") != 0)
    return -1;
  snprintf (out, len, "%s/%.*s/%.*s-flat.vmdk", datastores,
            (int) (close_bracket - path - 1), path + 1,
            (int) (name_len - 5), close_bracket + 2);
  return 0;
}

NBDKIT_DLL_PUBLIC VixError
VixDiskLib_Open (const VixDiskLibConnection connection,
                 const char *path,
                 uint32_t flags,
                 VixDiskLibHandle *handle)
{
  char file[8192];
  struct disk *disk;
  off_t size;
  VixError err;

  err = dummy_VixDiskLib_Open (connection, path, flags, handle);
  if (err != VIX_OK)
    return err;
  record ("open=%s", path);
  record ("flags=%u", flags);
  if (flat_file (path, file, sizeof file) == -1) {
    fprintf (stderr, "fake-vddk: %s is not `[datastore] dir/name.vmdk`\n", path);
    return VIX_E_FAIL;
  }
  disk = calloc (1, sizeof *disk);
  if (disk == NULL)
    return VIX_E_FAIL;
  disk->fd = open (file, O_RDONLY | O_CLOEXEC);
  if (disk->fd == -1 || (size = lseek (disk->fd, 0, SEEK_END)) == -1) {
    fprintf (stderr, "fake-vddk: %s: %m\n", file);
    if (disk->fd != -1)
      close (disk->fd);
    free (disk);
    return VIX_E_FAIL;
  }
  disk->sectors = size / VIXDISKLIB_SECTOR_SIZE;
  record ("file=%s", file);
  *handle = disk;
  return VIX_OK;
}

NBDKIT_DLL_PUBLIC VixError
VixDiskLib_Close (VixDiskLibHandle handle)
{
  struct disk *disk = handle;

  close (disk->fd);
  free (disk);
  return dummy_VixDiskLib_Close (NULL);
}

NBDKIT_DLL_PUBLIC VixError
VixDiskLib_GetInfo (VixDiskLibHandle handle, VixDiskLibInfo **info)
{
  struct disk *disk = handle;
  VixError err;

  err = dummy_VixDiskLib_GetInfo (NULL, info);
  if (err == VIX_OK)
    (*info)->capacity = disk->sectors;
  return err;
}

static VixError
read_sectors (struct disk *disk, uint64_t start_sector, uint64_t nr_sectors,
              unsigned char *buf)
{
  size_t len = nr_sectors * VIXDISKLIB_SECTOR_SIZE;
  off_t offset = start_sector * VIXDISKLIB_SECTOR_SIZE;
  size_t done = 0;

  if (start_sector + nr_sectors > disk->sectors)
    return VIX_E_FAIL;
  while (done < len) {
    ssize_t n = pread (disk->fd, buf + done, len - done, offset + done);
    if (n <= 0) {
      fprintf (stderr, "fake-vddk: pread: %m\n");
      return VIX_E_FAIL;
    }
    done += n;
  }
  return VIX_OK;
}

NBDKIT_DLL_PUBLIC VixError
VixDiskLib_Read (VixDiskLibHandle handle,
                 uint64_t start_sector, uint64_t nr_sectors,
                 unsigned char *buf)
{
  return read_sectors (handle, start_sector, nr_sectors, buf);
}

NBDKIT_DLL_PUBLIC VixError
VixDiskLib_ReadAsync (VixDiskLibHandle handle,
                      uint64_t start_sector, uint64_t nr_sectors,
                      unsigned char *buf,
                      VixDiskLibCompletionCB callback, void *data)
{
  VixError err = read_sectors (handle, start_sector, nr_sectors, buf);

  if (err != VIX_OK)
    return err;
  callback (data, VIX_OK);
  return VIX_ASYNC;
}

/* The chunks of [start_sector, +nr_sectors) that hold data, merged: VDDK answers in whole chunks. */
NBDKIT_DLL_PUBLIC VixError
VixDiskLib_QueryAllocatedBlocks (VixDiskLibHandle handle,
                                 uint64_t start_sector, uint64_t nr_sectors,
                                 uint64_t chunk_size,
                                 VixDiskLibBlockList **block_list)
{
  struct disk *disk = handle;
  uint64_t chunks, i;
  VixDiskLibBlockList *list;

  if (chunk_size == 0 || start_sector % chunk_size || nr_sectors % chunk_size ||
      start_sector + nr_sectors > disk->sectors)
    return VIX_E_FAIL;
  record ("extents=%" PRIu64 "+%" PRIu64, start_sector, nr_sectors);
  chunks = nr_sectors / chunk_size;
  list = calloc (1, sizeof *list + chunks * sizeof (VixDiskLibBlock));
  if (list == NULL)
    return VIX_E_FAIL;
  for (i = 0; i < chunks; i++) {
    uint64_t first = start_sector + i * chunk_size;
    off_t begin = first * VIXDISKLIB_SECTOR_SIZE;
    off_t end = (first + chunk_size) * VIXDISKLIB_SECTOR_SIZE;
    off_t data = lseek (disk->fd, begin, SEEK_DATA);

    if (data == -1 && errno != ENXIO) {
      free (list);
      return VIX_E_FAIL;
    }
    if (data == -1 || data >= end)
      continue;
    if (list->numBlocks > 0 &&
        list->blocks[list->numBlocks - 1].offset +
        list->blocks[list->numBlocks - 1].length == first)
      list->blocks[list->numBlocks - 1].length += chunk_size;
    else {
      list->blocks[list->numBlocks].offset = first;
      list->blocks[list->numBlocks].length = chunk_size;
      list->numBlocks++;
    }
  }
  *block_list = list;
  return VIX_OK;
}

NBDKIT_DLL_PUBLIC VixError
VixDiskLib_FreeBlockList (VixDiskLibBlockList *block_list)
{
  free (block_list);
  return VIX_OK;
}
