from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    name = "analysis"

    def ready(self) -> None:
        from participants import consort

        # CONSORT's analysed N is the latest finished run's, read from here:
        # the participants app may not import the analysis.
        consort.read_analysed_with(_latest_analysed)


def _latest_analysed(study):
    # Imported when first asked: the fitting libraries load slowly.
    from analysis.runs import latest_analysed

    return latest_analysed(study)
