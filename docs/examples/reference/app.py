import hydra


@hydra.main(version_base=None, config_path=None, config_name=None)
def app(cfg) -> None:
    print(cfg)


if __name__ == "__main__":
    app()
