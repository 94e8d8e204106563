/* Replays a fuzz corpus through LLVMFuzzerTestOneInput without libFuzzer, so CI can run
 * it under ASan+UBSan with any compiler: replay FILE|DIR... */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    char *data;
    size_t len;
    hs_error err;
    if (hs_read_file(path, 1 << 20, &data, &len, &err) < 0) {
        fprintf(stderr, "%s\n", err.text);
        return -1;
    }
    LLVMFuzzerTestOneInput((const uint8_t *)data, len);
    free(data);
    return 0;
}

int main(int argc, char **argv)
{
    int files = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (replay_file(argv[i]) < 0)
                return 1;
            files++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (!d) {
            perror(argv[i]);
            return 1;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char *p = hs_path_join(argv[i], e->d_name);
            int rc = replay_file(p);
            free(p);
            if (rc < 0) {
                closedir(d);
                return 1;
            }
            files++;
        }
        closedir(d);
    }
    printf("replayed %d inputs: no crash, no sanitizer report\n", files);
    return files > 0 ? 0 : 1;
}
