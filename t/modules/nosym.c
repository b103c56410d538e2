/* Test module: a shared object that loads fine but exports no sluice_app symbol (not a sluice
 * application module). */
int nosym_answer(void);

int
nosym_answer(void)
{
    return 42;
}
