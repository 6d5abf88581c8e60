/*
 * lanes.c - the cores' worth of page-reading threads of a pipeline (see workers.h).
 */
#include "workers.h"

#include <pthread.h>
#include <stdlib.h>

struct lanes {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    int total;
    int free;
    int waiting;   /* threads blocked in lanes_acquire */
};

struct lanes *lanes_new(int n)
{
    struct lanes *l = q_calloc(1, sizeof *l);
    if (!l)
        return NULL;
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->freed, NULL);
    l->total = l->free = n > 0 ? n : 1;
    return l;
}

void lanes_free(struct lanes *l)
{
    if (!l)
        return;
    pthread_cond_destroy(&l->freed);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

int lanes_total(const struct lanes *l) { return l->total; }

void lanes_acquire(struct lanes *l)
{
    pthread_mutex_lock(&l->lock);
    l->waiting++;
    while (l->free == 0)
        pthread_cond_wait(&l->freed, &l->lock);
    l->waiting--;
    l->free--;
    pthread_mutex_unlock(&l->lock);
}

bool lanes_try_acquire(struct lanes *l)
{
    pthread_mutex_lock(&l->lock);
    bool ok = l->free > 0 && l->waiting == 0;
    if (ok)
        l->free--;
    pthread_mutex_unlock(&l->lock);
    return ok;
}

void lanes_release(struct lanes *l)
{
    pthread_mutex_lock(&l->lock);
    l->free++;
    pthread_cond_signal(&l->freed);
    pthread_mutex_unlock(&l->lock);
}

bool lanes_wanted(struct lanes *l)
{
    pthread_mutex_lock(&l->lock);
    bool wanted = l->waiting > 0;
    pthread_mutex_unlock(&l->lock);
    return wanted;
}
