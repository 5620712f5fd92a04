from django.core.management.base import BaseCommand

from participants.key_rotation import rotate_contact_keys


class Command(BaseCommand):
    help = (
        "Re-encrypt participants' contact details (and their history) with the "
        "first key of CONTACT_ENCRYPTION_KEYS and recompute their keyed hashes "
        "with CONTACT_HASH_KEY. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            help="Rows read, locked and written per transaction (default 500).",
        )

    def handle(self, *args, batch_size: int, **options):
        result = rotate_contact_keys(batch_size=batch_size)
        contacts, history = result.contacts, result.history
        self.stdout.write(
            f"Contacts: {contacts.rows} checked, {contacts.reencrypted} "
            f"re-encrypted, {contacts.rehashed} rehashed."
        )
        self.stdout.write(
            f"History: {history.rows} checked, {history.reencrypted} re-encrypted."
        )
